package wire

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/zonecert/zonecert/plugin"
	providerv1 "github.com/zonecert/zonecert/plugin/proto/provider/v1"
)

// ErrUnimplemented is returned (wrapped) when the plugin lacks an optional
// RPC.
var ErrUnimplemented = errors.New("not implemented by plugin")

// Client is the host-side adapter over the generated gRPC client.
type Client struct {
	c providerv1.ProviderClient
}

// NewClient wraps a gRPC connection to a plugin.
func NewClient(cc grpc.ClientConnInterface) *Client {
	return &Client{c: providerv1.NewProviderClient(cc)}
}

// Metadata calls GetMetadata.
func (c *Client) Metadata(ctx context.Context) (plugin.Metadata, error) {
	resp, err := c.c.GetMetadata(ctx, &providerv1.GetMetadataRequest{})
	if err != nil {
		return plugin.Metadata{}, fromStatus(err)
	}
	return MetadataFromProto(resp.GetMetadata()), nil
}

// Configure sends settings and returns the plugin's diagnostics.
func (c *Client) Configure(ctx context.Context, settings map[string]string) ([]plugin.Diagnostic, error) {
	resp, err := c.c.Configure(ctx, &providerv1.ConfigureRequest{Settings: settings})
	if err != nil {
		return nil, fromStatus(err)
	}
	var out []plugin.Diagnostic
	for _, d := range resp.GetDiagnostics() {
		out = append(out, plugin.Diagnostic{Setting: d.GetSetting(), Message: d.GetMessage()})
	}
	return out, nil
}

// Present implements plugin.Provider.
func (c *Client) Present(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	resp, err := c.c.Present(ctx, &providerv1.PresentRequest{Records: recordsToProto(recs)})
	if err != nil {
		return nil, fromStatus(err)
	}
	return resultsFromProto(resp.GetResults()), nil
}

// CleanUp implements plugin.Provider.
func (c *Client) CleanUp(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	resp, err := c.c.CleanUp(ctx, &providerv1.CleanUpRequest{Records: recordsToProto(recs)})
	if err != nil {
		return nil, fromStatus(err)
	}
	return resultsFromProto(resp.GetResults()), nil
}

// WaitForSync implements plugin.Syncer.
func (c *Client) WaitForSync(ctx context.Context, recs []plugin.Record) error {
	_, err := c.c.WaitForSync(ctx, &providerv1.WaitForSyncRequest{Records: recordsToProto(recs)})
	return fromStatus(err)
}

// ListZones implements plugin.ZoneLister.
func (c *Client) ListZones(ctx context.Context) ([]string, error) {
	resp, err := c.c.ListZones(ctx, &providerv1.ListZonesRequest{})
	if err != nil {
		return nil, fromStatus(err)
	}
	return resp.GetZones(), nil
}

// fromStatus turns a gRPC status back into the error the plugin returned:
// a *plugin.Error keeps its code and retryable flag, deadlines and
// cancellation match the context errors, a missing RPC matches
// ErrUnimplemented.
func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	for _, d := range st.Details() {
		if pe, ok := d.(*providerv1.Error); ok {
			return errorFromProto(pe)
		}
	}
	switch st.Code() {
	case codes.DeadlineExceeded:
		if st.Message() == context.DeadlineExceeded.Error() {
			return context.DeadlineExceeded
		}
		return fmt.Errorf("%w: %s", context.DeadlineExceeded, st.Message())
	case codes.Canceled:
		if st.Message() == context.Canceled.Error() {
			return context.Canceled
		}
		return fmt.Errorf("%w: %s", context.Canceled, st.Message())
	case codes.Unimplemented:
		return fmt.Errorf("%w: %s", ErrUnimplemented, st.Message())
	}
	return err
}
