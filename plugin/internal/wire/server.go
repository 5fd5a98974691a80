package wire

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/zonecert/zonecert/plugin"
	providerv1 "github.com/zonecert/zonecert/plugin/proto/provider/v1"
)

// Backend is what a plugin process serves: the SDK implements it.
type Backend interface {
	// Metadata describes the plugin. After a successful Configure the
	// capability flags reflect the configured provider.
	Metadata() plugin.Metadata
	// Configure decodes settings and builds the provider. Field-level
	// problems are diagnostics; err is for anything else.
	Configure(ctx context.Context, settings map[string]string) ([]plugin.Diagnostic, error)
	// Provider is the configured provider, or nil before Configure.
	Provider() plugin.Provider
}

// Server adapts a Backend to the generated gRPC service.
type Server struct {
	providerv1.UnimplementedProviderServer
	b Backend
}

// NewServer returns the gRPC service for b.
func NewServer(b Backend) *Server { return &Server{b: b} }

var errNotConfigured = status.Error(codes.FailedPrecondition, "plugin not configured: Configure must succeed first")

// GetMetadata implements providerv1.ProviderServer.
func (s *Server) GetMetadata(context.Context, *providerv1.GetMetadataRequest) (*providerv1.GetMetadataResponse, error) {
	return &providerv1.GetMetadataResponse{Metadata: MetadataToProto(s.b.Metadata())}, nil
}

// Configure implements providerv1.ProviderServer.
func (s *Server) Configure(ctx context.Context, req *providerv1.ConfigureRequest) (*providerv1.ConfigureResponse, error) {
	diags, err := s.b.Configure(ctx, req.GetSettings())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &providerv1.ConfigureResponse{}
	for _, d := range diags {
		resp.Diagnostics = append(resp.Diagnostics, &providerv1.Diagnostic{Setting: d.Setting, Message: d.Message})
	}
	return resp, nil
}

// Present implements providerv1.ProviderServer.
func (s *Server) Present(ctx context.Context, req *providerv1.PresentRequest) (*providerv1.PresentResponse, error) {
	p := s.b.Provider()
	if p == nil {
		return nil, errNotConfigured
	}
	res, err := p.Present(ctx, recordsFromProto(req.GetRecords()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &providerv1.PresentResponse{Results: resultsToProto(res)}, nil
}

// CleanUp implements providerv1.ProviderServer.
func (s *Server) CleanUp(ctx context.Context, req *providerv1.CleanUpRequest) (*providerv1.CleanUpResponse, error) {
	p := s.b.Provider()
	if p == nil {
		return nil, errNotConfigured
	}
	res, err := p.CleanUp(ctx, recordsFromProto(req.GetRecords()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &providerv1.CleanUpResponse{Results: resultsToProto(res)}, nil
}

// WaitForSync implements providerv1.ProviderServer.
func (s *Server) WaitForSync(ctx context.Context, req *providerv1.WaitForSyncRequest) (*providerv1.WaitForSyncResponse, error) {
	p := s.b.Provider()
	if p == nil {
		return nil, errNotConfigured
	}
	sy, ok := p.(plugin.Syncer)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "plugin has no WaitForSync capability")
	}
	if err := sy.WaitForSync(ctx, recordsFromProto(req.GetRecords())); err != nil {
		return nil, toStatus(err)
	}
	return &providerv1.WaitForSyncResponse{}, nil
}

// ListZones implements providerv1.ProviderServer.
func (s *Server) ListZones(ctx context.Context, _ *providerv1.ListZonesRequest) (*providerv1.ListZonesResponse, error) {
	p := s.b.Provider()
	if p == nil {
		return nil, errNotConfigured
	}
	zl, ok := p.(plugin.ZoneLister)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "plugin has no ListZones capability")
	}
	zones, err := zl.ListZones(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &providerv1.ListZonesResponse{Zones: zones}, nil
}

// toStatus carries a whole-call error across the wire. A *plugin.Error
// travels as a status detail so its code and retryable flag survive.
func toStatus(err error) error {
	var pe *plugin.Error
	switch {
	case errors.As(err, &pe):
		st := status.New(codes.Unknown, err.Error())
		if withDetail, derr := st.WithDetails(errorToProto(pe)); derr == nil {
			st = withDetail
		}
		return st.Err()
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	// Any other error, even a gRPC status from a vendor API the provider
	// calls, travels as Unknown: codes such as Unavailable or Unimplemented
	// mean something to the host (crashed process, missing capability).
	return status.Error(codes.Unknown, err.Error())
}
