package dns01

// Details are the ACME details of one dns-01 challenge: a bridge to an API
// that derives the TXT value itself (lego's providers) needs them, and the
// plugin host hands them only to plugins that ask.
type Details struct {
	Token, KeyAuthorization string
}

// AttachDetails gives each record of b the details of the challenge it was
// made from: details[i] belongs to Items[i]. A record shared by several
// items (the same value at the same name) takes the first item's. Call it
// before Publish.
func (b *Batch) AttachDetails(details []Details) {
	for _, zb := range b.zones {
		for ri := range zb.records {
			r := &zb.records[ri]
			items := zb.items[r.ID]
			if len(items) == 0 || items[0] >= len(details) {
				continue
			}
			it := b.Items[items[0]]
			r.Identifier = it.Identifier
			r.Token, r.KeyAuthorization = details[items[0]].Token, details[items[0]].KeyAuthorization
		}
	}
}
