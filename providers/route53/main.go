// Command zonecert-dns-route53 is a zonecert DNS provider plugin that
// publishes TXT records in Amazon Route 53 hosted zones, with credentials
// from the AWS SDK's standard chain. See README.md.
package main

import (
	"context"
	"log/slog"

	"github.com/zonecert/zonecert/plugin/sdk"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// passEnv lists the environment variables the AWS SDK reads itself
// (credentials, profiles, SSO, web identity, IMDS, region, endpoint and
// retry overrides); the host passes a plugin only what it declares, plus
// HOME (for ~/.aws) and the proxy variables, which every plugin gets.
func passEnv() []string {
	return []string{
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
		"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
		"AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_WEB_IDENTITY_TOKEN_FILE",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
		"AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
		"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "AWS_EC2_METADATA_V1_DISABLED",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ROUTE_53", "AWS_ENDPOINT_URL_STS", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
		"AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT",
		"AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_CA_BUNDLE", "AWS_SDK_UA_APP_ID",
	}
}

// spec describes the plugin; New builds each instance.
func spec() sdk.Plugin[Settings] {
	return sdk.Plugin[Settings]{
		Name:        "route53",
		Version:     version,
		Description: "Amazon Route 53 hosted zones (AWS SDK credential chain)",
		PassEnv:     passEnv(),
		MaxBatch:    maxBatch,
		New: func(ctx context.Context, s Settings, log *slog.Logger) (sdk.Provider, error) {
			return New(ctx, s, log)
		},
	}
}

func main() { sdk.Serve(spec()) }
