package main

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/smithy-go"

	"github.com/zonecert/zonecert/plugin"
)

// isAuthCode reports the AWS error codes for missing, wrong or
// insufficient credentials.
func isAuthCode(code string) bool {
	switch code {
	case "AccessDenied", "AccessDeniedException", "InvalidClientTokenId",
		"SignatureDoesNotMatch", "UnrecognizedClientException", "ExpiredToken",
		"ExpiredTokenException", "MissingAuthenticationToken", "IncompleteSignature",
		"InvalidSignatureException", "AuthFailure", "NotAuthorized":
		return true
	}
	return false
}

// apiErrorCode returns the AWS error code and HTTP status of err, if it came
// from the API.
func apiErrorCode(err error) (code string, status int, ok bool) {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return "", 0, false
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), status, true
}

// toPluginError classifies an error for the host. Throttling that outlived
// the SDK's retries is CodeRateLimited and retryable.
func toPluginError(err error) *plugin.Error {
	var pe *plugin.Error
	if errors.As(err, &pe) {
		return pe
	}
	msg := err.Error()
	if code, status, ok := apiErrorCode(err); ok {
		var icb *types.InvalidChangeBatch
		if errors.As(err, &icb) && len(icb.Messages) > 0 && !strings.Contains(msg, icb.Messages[0]) {
			// Only the <InvalidChangeBatch> shape leaves the problems
			// out of the message.
			msg += ": " + strings.Join(icb.Messages, "; ")
		}
		switch _, throttled := retry.DefaultThrottleErrorCodes[code]; {
		case throttled:
			return &plugin.Error{Code: plugin.CodeRateLimited, Retryable: true, Message: msg}
		case isAuthCode(code):
			return &plugin.Error{Code: plugin.CodeAuth, Message: msg}
		case code == "NoSuchHostedZone":
			return &plugin.Error{Code: plugin.CodeZoneNotFound, Message: msg}
		case code == "InvalidChangeBatch":
			return &plugin.Error{Code: plugin.CodeConflict, Retryable: true, Message: msg}
		case status >= http.StatusInternalServerError:
			return &plugin.Error{Code: plugin.CodeOther, Retryable: true, Message: msg}
		}
		return &plugin.Error{Code: plugin.CodeOther, Message: msg}
	}
	// The SDK reports a failed credential chain as "get identity: …"
	// (no typed error); nothing was sent to Route 53.
	if strings.Contains(msg, "get identity") || strings.Contains(msg, "failed to retrieve credentials") {
		return &plugin.Error{Code: plugin.CodeAuth, Message: msg}
	}
	retryable := errors.Is(err, context.DeadlineExceeded)
	return &plugin.Error{Code: plugin.CodeOther, Retryable: retryable, Message: msg}
}
