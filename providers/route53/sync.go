package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/zonecert/zonecert/plugin"
)

// WaitForSync polls GetChange for every change the records' Present made
// until Route 53 reports INSYNC: "all Route 53 DNS servers are running
// with the changes" (GetChange, Route 53 API Reference). It polls every
// 250 ms at first, since changes usually sync within seconds, then backs
// off to 2 s; Route 53 allows five requests per second per account.
func (p *provider) WaitForSync(ctx context.Context, records []plugin.Record) error {
	var pending []string
	for _, r := range records {
		if st, ok := decodeState(r.State); ok && st.ChangeID != "" && !slices.Contains(pending, st.ChangeID) {
			pending = append(pending, st.ChangeID)
		}
	}
	interval := p.opts.pollFirst
	timer := time.NewTimer(0)
	defer timer.Stop()
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for Route 53 changes %v: %w", pending, ctx.Err())
		case <-timer.C:
		}
		var still []string
		for _, id := range pending {
			out, err := p.client.GetChange(ctx, &route53.GetChangeInput{Id: aws.String(id)})
			if err != nil {
				if ctx.Err() != nil {
					// Cancelled mid-request: say so, as between polls.
					return fmt.Errorf("waiting for Route 53 changes %v: %w", pending, ctx.Err())
				}
				return toPluginError(fmt.Errorf("getting change %s: %w", id, err))
			}
			if out.ChangeInfo == nil || out.ChangeInfo.Status != types.ChangeStatusInsync {
				still = append(still, id)
			}
		}
		pending = still
		if len(pending) > 0 {
			timer.Reset(interval)
			interval = min(interval*5/4, p.opts.pollMax)
		}
	}
	p.log.LogAttrs(ctx, slog.LevelDebug, "route53 changes in sync")
	return nil
}
