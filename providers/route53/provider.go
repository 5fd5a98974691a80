package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/route53"

	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/sdk"
)

// Settings are the provider's own settings. Credentials, region, profile and
// endpoint come from the AWS SDK's standard configuration (environment,
// shared config files, SSO, web identity, IMDS), which the SDK reads itself.
type Settings struct {
	HostedZoneID string `setting:"hosted_zone_id" env:"AWS_HOSTED_ZONE_ID" doc:"Use this hosted zone for every record instead of looking it up by name"`
	PrivateZone  bool   `setting:"private_zone" env:"AWS_PRIVATE_ZONE" default:"false" doc:"Look up the private hosted zone of the record's zone instead of the public one"`
	TTL          int    `setting:"ttl" env:"AWS_TTL" default:"10" doc:"TTL in seconds of the TXT record sets created, when the host does not set one; an existing set keeps its own"`
}

// defaultMaxAttempts is the attempts per API call; Route 53 allows five
// requests per second per account, so throttling is the common transient
// failure. The SDK's AWS_MAX_ATTEMPTS overrides it.
const defaultMaxAttempts = 6

// maxBatch bounds the records per call so that, at fresh names, one change
// batch stays within Route 53's request limits: 300 ACME values (43
// characters, 45 quoted) UPSERTed count 600 of 1,000 records and 27,000 of
// 32,000 characters. Values already present can push a call over; it is
// then split (see splitChanges).
const maxBatch = 300

// options are knobs for tests; the zero value is production behaviour.
type options struct {
	loadOptions []func(*config.LoadOptions) error // extra AWS config sources
	maxBackoff  time.Duration                     // the SDK retryer's cap (0 = SDK default, 20 s)
	pollFirst   time.Duration                     // first GetChange poll interval (0 = 250 ms)
	pollMax     time.Duration                     // GetChange poll interval cap (0 = 2 s)
}

// provider writes TXT record sets in Route 53. It holds no state that
// CleanUp needs: that travels in each record's cleanup state.
type provider struct {
	client   *route53.Client
	settings Settings
	log      *slog.Logger
	opts     options

	mu    sync.Mutex
	locks map[string]chan struct{} // per hosted zone: read-modify-write of record sets
}

var (
	_ plugin.Provider = (*provider)(nil)
	_ plugin.Syncer   = (*provider)(nil)
)

// New builds the provider from decoded settings; see newProvider.
func New(ctx context.Context, s Settings, log *slog.Logger) (sdk.Provider, error) {
	return newProvider(ctx, s, log, options{})
}

// newProvider loads the AWS configuration with the SDK's standard chain and
// builds the Route 53 client. Route 53 is a global service, so the region
// only selects the partition; it defaults to us-east-1.
func newProvider(ctx context.Context, s Settings, log *slog.Logger, o options) (*provider, error) {
	if s.TTL < 0 || s.TTL > math.MaxInt32 {
		return nil, fmt.Errorf("ttl %d: must be between 0 and %d", s.TTL, math.MaxInt32)
	}
	s.HostedZoneID = strings.TrimPrefix(strings.TrimSpace(s.HostedZoneID), "/hostedzone/")
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := config.LoadDefaultConfig(ctx, o.loadOptions...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	// The SDK builds its retryer from AWS_RETRY_MODE (standard: jittered
	// exponential backoff, throttling codes retried) and AWS_MAX_ATTEMPTS;
	// only the attempts get our default when neither is configured.
	if cfg.RetryMaxAttempts == 0 {
		cfg.RetryMaxAttempts = defaultMaxAttempts
	}
	var clientOpts []func(*route53.Options)
	if o.maxBackoff > 0 {
		clientOpts = append(clientOpts, func(co *route53.Options) {
			co.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = co.RetryMaxAttempts
				so.MaxBackoff = o.maxBackoff
			})
		})
	}
	if o.pollFirst <= 0 {
		o.pollFirst = 250 * time.Millisecond
	}
	if o.pollMax <= 0 {
		o.pollMax = 2 * time.Second
	}
	return &provider{
		client:   route53.NewFromConfig(cfg, clientOpts...),
		settings: s,
		log:      log,
		opts:     o,
		locks:    map[string]chan struct{}{},
	}, nil
}

// lockZone serialises read-modify-write cycles on one hosted zone within
// this process, so concurrent calls for the same name do not overwrite each
// other's values (Route 53 has no conditional UPSERT).
func (p *provider) lockZone(ctx context.Context, zoneID string) (unlock func(), err error) {
	p.mu.Lock()
	l, ok := p.locks[zoneID]
	if !ok {
		l = make(chan struct{}, 1)
		p.locks[zoneID] = l
	}
	p.mu.Unlock()
	select {
	case l <- struct{}{}:
		return func() { <-l }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Present merges each value into the TXT record set at its name: it reads
// the current set and UPSERTs the union, because an UPSERT replaces the
// whole set. All records of one hosted zone go in one change batch.
func (p *provider) Present(ctx context.Context, records []plugin.Record) ([]plugin.Result, error) {
	return p.apply(ctx, records, false)
}

// CleanUp removes exactly the given values: a set left empty is DELETEd
// (with its current values and TTL, which a DELETE must match), any other
// is UPSERTed with the remaining values. Absent values are not an error.
func (p *provider) CleanUp(ctx context.Context, records []plugin.Record) ([]plugin.Result, error) {
	return p.apply(ctx, records, true)
}

// apply groups the records by hosted zone and makes one change per zone.
func (p *provider) apply(ctx context.Context, records []plugin.Record, remove bool) ([]plugin.Result, error) {
	results := make([]plugin.Result, len(records))
	groups := map[string][]int{} // hosted zone id -> record indexes
	var order []string
	zones := map[string]hostedZone{} // by record zone, resolved once per call
	byID := map[string]hostedZone{}
	zoneErrs := map[string]*plugin.Error{}
	for i, r := range records {
		results[i].ID = r.ID
		if perr := checkRecord(r); perr != nil {
			results[i].Err = perr
			continue
		}
		var hz hostedZone
		if st, ok := decodeState(r.State); remove && ok && st.ZoneID != "" {
			hz = hostedZone{id: st.ZoneID, count: -1}
		} else if cached, ok := zones[r.Zone]; ok {
			hz = cached
		} else if perr, failed := zoneErrs[r.Zone]; failed {
			results[i].Err = perr
			continue
		} else {
			var err error
			hz, err = p.findZone(ctx, r.Zone)
			if err != nil {
				zoneErrs[r.Zone] = toPluginError(err)
				results[i].Err = zoneErrs[r.Zone]
				continue
			}
			zones[r.Zone] = hz
		}
		if hz.name != "" && !within(r.FQDN, hz.name) {
			results[i].Err = plugin.Errorf(plugin.CodeZoneNotFound, false,
				"record %q is not within hosted zone %s (%s)", r.FQDN, hz.id, hz.name)
			continue
		}
		if _, ok := groups[hz.id]; !ok {
			order = append(order, hz.id)
			byID[hz.id] = hz
		}
		groups[hz.id] = append(groups[hz.id], i)
	}
	for _, id := range order {
		idx := groups[id]
		batch := make([]plugin.Record, len(idx))
		for j, i := range idx {
			batch[j] = records[i]
		}
		changeIDs, err := p.changeZone(ctx, byID[id], batch, remove)
		for _, i := range idx {
			name := strings.ToLower(records[i].FQDN)
			changeID, done := changeIDs[name]
			if err != nil && !done {
				results[i].Err = toPluginError(err)
				continue
			}
			if !remove {
				results[i].State = encodeState(state{ZoneID: id, Name: records[i].FQDN,
					Value: records[i].Value, ChangeID: changeID})
			}
		}
	}
	return results, nil
}

// checkRecord rejects records the host should never send.
func checkRecord(r plugin.Record) *plugin.Error {
	switch {
	case r.Value == "":
		return plugin.Errorf(plugin.CodeOther, false, "record %q: empty value", r.FQDN)
	case !strings.HasSuffix(r.FQDN, ".") || !strings.HasSuffix(r.Zone, "."):
		return plugin.Errorf(plugin.CodeOther, false, "record %q in zone %q: names must be absolute (trailing dot)", r.FQDN, r.Zone)
	case !within(r.FQDN, r.Zone):
		return plugin.Errorf(plugin.CodeZoneNotFound, false, "record %q is not within zone %q", r.FQDN, r.Zone)
	}
	for _, c := range []byte(r.Value) {
		if c < 0x20 || c > 0x7e {
			return plugin.Errorf(plugin.CodeOther, false, "record %q: value holds a non-printable byte", r.FQDN)
		}
	}
	return nil
}

func within(name, zone string) bool {
	name, zone = strings.ToLower(name), strings.ToLower(zone)
	return name == zone || zone == "." || strings.HasSuffix(name, "."+zone)
}

// changeZone reads the TXT sets at the batch's names, computes the new sets
// and submits them in one ChangeResourceRecordSets call (more only when
// Route 53's request limits require it). It returns the change id that
// covers each name it changed; a name already as wanted maps to "". A DELETE
// that no longer matches (someone else changed the set between our read and
// write) fails with InvalidChangeBatch; the cycle is then retried. On error
// the map still holds the names whose changes were accepted.
func (p *provider) changeZone(ctx context.Context, hz hostedZone, batch []plugin.Record, remove bool) (map[string]string, error) {
	unlock, err := p.lockZone(ctx, hz.id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	done := map[string]string{}
	const attempts = 3
	for attempt := 1; ; attempt++ {
		err = p.changeOnce(ctx, hz, batch, remove, done)
		if err == nil || attempt == attempts || !isInvalidChangeBatch(err) {
			return done, err
		}
		p.log.LogAttrs(ctx, slog.LevelDebug, "route53 change batch conflicted; re-reading",
			slog.String("zone_id", hz.id), slog.Int("attempt", attempt))
	}
}

// changeOnce makes one read-plan-write cycle, recording in done the change
// id of every name whose change was accepted.
func (p *provider) changeOnce(ctx context.Context, hz hostedZone, batch []plugin.Record, remove bool, done map[string]string) error {
	names := map[string]bool{}
	for _, r := range batch {
		names[strings.ToLower(r.FQDN)] = true
	}
	current, err := p.readTXT(ctx, hz, names)
	if err != nil {
		return err
	}
	changes := p.plan(current, batch, remove)
	comment := "zonecert: present"
	if remove {
		comment = "zonecert: clean up"
	}
	for _, part := range splitChanges(changes) {
		out, err := p.client.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
			HostedZoneId: aws.String(hz.id),
			ChangeBatch:  changeBatch(comment, part),
		})
		if err != nil {
			return fmt.Errorf("changing record sets in %s: %w", hz.id, err)
		}
		id := ""
		if out.ChangeInfo != nil {
			id = strings.TrimPrefix(aws.ToString(out.ChangeInfo.Id), "/change/")
		}
		for _, c := range part {
			done[strings.ToLower(aws.ToString(c.ResourceRecordSet.Name))] = id
		}
		p.log.LogAttrs(ctx, slog.LevelDebug, "route53 change submitted",
			slog.String("zone_id", hz.id), slog.String("change_id", id), slog.Int("rrsets", len(part)))
	}
	for name := range names {
		if _, ok := done[name]; !ok {
			done[name] = "" // already as wanted: no change of ours to wait for
		}
	}
	return nil
}

func isInvalidChangeBatch(err error) bool {
	code, _, ok := apiErrorCode(err)
	return ok && code == "InvalidChangeBatch"
}

// recordTTL is the TTL for a record: the host's, or the configured default.
func (p *provider) recordTTL(r plugin.Record) int64 {
	if r.TTL > 0 {
		return int64(r.TTL)
	}
	return int64(p.settings.TTL)
}
