package storage

import (
	"path"
	"strconv"
	"strings"
)

// The layout of zonecert's state: the one place that spells its keys.
// live/ and archive/ are certbot's layout, a contract with users whose
// servers read the files; the rest is zonecert's own.
//
//	accounts/<ca>/<id>/account.json   what zonecert remembers of an account
//	accounts/<ca>/<id>/key.pem        its private key (private)
//	live/<name>/{cert,chain,fullchain,privkey}.pem   the current set (PutSet)
//	archive/<name>/<N>/...            every set written (FS keeps them)
//	journal/<owner>--<id>             a challenge record to clean up (dns01; older: journal/<id>)
//	renewal/<name>.json               a certificate's renewal plan (core/plan.go)
//	plugins.lock.json                 SHA-256 pins of the DNS provider plugins
//	fleet/retry-after-<account>       until when a CA asked a fleet's account to wait
//
// Locks: cert-<name> serializes the orders of one certificate;
// owner-<id> is held by one running order, and its journal entries name it;
// claim-<name> is held by the daemon of a fleet that orders name;
// ca-<ca>-<i> is one of a fleet's slots for a newOrder request in flight.
const (
	AccountsDir = "accounts"
	LiveDir     = "live"
	ArchiveDir  = "archive"
	JournalDir  = "journal"
	RenewalDir  = "renewal"
	// PluginLockKey is the plugin lock file (plugin/host.Lock).
	PluginLockKey = "plugins.lock.json"
)

// Files of an account, under AccountKey.
const (
	AccountFile    = "account.json"
	AccountKeyFile = "key.pem"
)

// Files of a certificate set, under LiveKey (certbot's names).
const (
	CertFile      = "cert.pem"
	ChainFile     = "chain.pem"
	FullChainFile = "fullchain.pem"
	PrivKeyFile   = "privkey.pem"
)

// CAKey is the prefix of the accounts at one CA; ca is a SafeSegment.
func CAKey(ca string) string { return path.Join(AccountsDir, ca) }

// AccountKey is the prefix of one account's files.
func AccountKey(ca, id string) string { return path.Join(AccountsDir, ca, id) }

// LiveKey is the set of certificate name's current files.
func LiveKey(name string) string { return path.Join(LiveDir, name) }

// LiveFileKey is one file of certificate name's current set.
func LiveFileKey(name, file string) string { return path.Join(LiveDir, name, file) }

// ArchiveKey holds every version of certificate name's set.
func ArchiveKey(name string) string { return path.Join(ArchiveDir, name) }

// JournalKey is one cleanup journal entry.
func JournalKey(id string) string { return path.Join(JournalDir, id) }

// RenewalKey is certificate name's renewal plan.
func RenewalKey(name string) string { return path.Join(RenewalDir, name+".json") }

// OwnerLock is the name of the lock a running order holds while its
// journal entries are live; id is random ([a-z0-9]).
func OwnerLock(id string) string { return ownerLockPrefix + id }

const ownerLockPrefix = "owner-"

// CertLock is the name of the lock that serializes orders for a certificate.
func CertLock(name string) string { return "cert-" + name }

// AccountLock is the name of the lock that serializes registering an
// account with the CA whose key (a SafeSegment) is ca.
func AccountLock(ca string) string { return "account-" + ca }

// Private reports whether key holds secret material by the layout: an
// account's key.pem or a certificate's privkey.pem (and journal entries).
// Copies between backends seal or 0600 these.
func Private(key string) bool {
	base := path.Base(key)
	first, _, _ := strings.Cut(key, "/")
	return base == AccountKeyFile || base == PrivKeyFile || first == JournalDir
}

// ClaimLock is the name of the lock a daemon of a fleet holds while it
// orders certificate name (core/daemon/fleet.go); CertLock still
// serializes the writes.
func ClaimLock(name string) string { return "claim-" + name }

// FleetDir holds what a fleet of daemons shares besides certificates.
const FleetDir = "fleet"

// RetryAfterKey holds the time (RFC 3339) until which the CA asked the
// account whose hex digest is account to send no new orders.
func RetryAfterKey(account string) string { return path.Join(FleetDir, "retry-after-"+account) }

// CASlotLock is the name of slot i of the fleet's newOrder requests in
// flight at the CA whose hex digest is ca (core/daemon/fleetgate.go).
func CASlotLock(ca string, i int) string { return "ca-" + ca + "-" + strconv.Itoa(i) }
