package dns01

// The record's name comes from the validation method:
//
//   - dns-01 (RFC 8555 §8.4): "_acme-challenge.<domain>", the default;
//   - dns-account-01 (draft-ietf-acme-dns-account-label §3.1):
//     "_<account label>._acme-challenge.<domain>", so that several
//     accounts can validate one name at once;
//   - dns-persist-01 (draft-ietf-acme-dns-persist §3):
//     "_validation-persist.<domain>", a standing record set up once.
//
// CNAMEs are followed from the labelled name as for dns-01. A per-name
// alias (Config.Aliases) replaces the labelled name whatever the method:
// the user's CNAME at the labelled name points there.

// PersistLabel is the label of a dns-persist-01 record.
const PersistLabel = "_validation-persist"

// AccountChallengeLabel returns the labels a dns-account-01 record goes
// under, given the account label (acme.DNSAccountLabel), for
// PrepareLabel.
func AccountChallengeLabel(accountLabel string) string {
	return accountLabel + "." + ChallengeLabel
}

// PersistName returns the absolute name of a normalized identifier's
// dns-persist-01 record; a wildcard's "*." is dropped, since one record
// serves the name and, with policy=wildcard, its wildcard.
func PersistName(domain string) (string, error) {
	return labelledName(PersistLabel, domain)
}
