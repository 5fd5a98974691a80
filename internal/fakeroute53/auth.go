package fakeroute53

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// verifySigV4 checks an AWS Signature Version 4 Authorization header as the
// AWS General Reference describes it (canonical request, string to sign,
// derived signing key), independently of the SDK's signer, and returns the
// access key id. Every failure is 403 Forbidden, as Route 53's front end
// answers (the generic "Common Errors" page lists IncompleteSignature as 400).
func verifySigV4(r *http.Request, body []byte, keys map[string]string, now time.Time) (string, *apiError) {
	forbidden := func(code, msg string) *apiError {
		return &apiError{status: http.StatusForbidden, code: code, message: msg}
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return "", forbidden("MissingAuthenticationToken", "Missing Authentication Token")
	}
	const algorithm = "AWS4-HMAC-SHA256"
	rest, ok := strings.CutPrefix(auth, algorithm+" ")
	if !ok {
		return "", forbidden("IncompleteSignature", "Authorization header requires the "+algorithm+" algorithm")
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	credential, signedHeaders, signature := fields["Credential"], fields["SignedHeaders"], fields["Signature"]
	scopeParts := strings.Split(credential, "/")
	if len(scopeParts) != 5 || signedHeaders == "" || signature == "" {
		return "", forbidden("IncompleteSignature", "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters")
	}
	akid, day, region, service, term := scopeParts[0], scopeParts[1], scopeParts[2], scopeParts[3], scopeParts[4]
	if service != "route53" || term != "aws4_request" || region == "" {
		return "", forbidden("SignatureDoesNotMatch", "Credential should be scoped to correct service: 'route53'.")
	}
	secret, known := keys[akid]
	if !known {
		return "", forbidden("InvalidClientTokenId", "The security token included in the request is invalid.")
	}
	amzDate := r.Header.Get("X-Amz-Date")
	signedAt, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil || !strings.HasPrefix(amzDate, day) {
		return "", forbidden("IncompleteSignature", "Date must be in ISO-8601 'basic format' and match the credential scope.")
	}
	if d := now.Sub(signedAt); d > 15*time.Minute || d < -15*time.Minute {
		return "", forbidden("SignatureDoesNotMatch", "Signature expired: "+amzDate+" is now earlier or later than the allowed 15 minute window.")
	}
	headerNames := strings.Split(signedHeaders, ";")
	if !slices.Contains(headerNames, "host") || !slices.IsSorted(headerNames) {
		return "", forbidden("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
	}

	// The signature covers the body's hash; a client may also send that
	// hash as X-Amz-Content-Sha256, which must then match the body.
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != payloadHash {
		return "", forbidden("SignatureDoesNotMatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	var canon strings.Builder
	canon.WriteString(r.Method + "\n")
	canon.WriteString(canonicalURI(r.URL) + "\n")
	canon.WriteString(canonicalQuery(r.URL.Query()) + "\n")
	for _, h := range headerNames {
		canon.WriteString(h + ":" + headerValue(r, h) + "\n")
	}
	canon.WriteString("\n" + signedHeaders + "\n" + payloadHash)
	canonHash := sha256.Sum256([]byte(canon.String()))
	scope := strings.Join(scopeParts[1:], "/")
	toSign := algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(canonHash[:])

	key := hmacSHA256([]byte("AWS4"+secret), day)
	for _, s := range []string{region, service, term} {
		key = hmacSHA256(key, s)
	}
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return "", forbidden("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return akid, nil
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func headerValue(r *http.Request, name string) string {
	switch name {
	case "host":
		return r.Host
	case "content-length":
		if v := r.Header.Get("Content-Length"); v != "" {
			return v
		}
		return strconv.FormatInt(r.ContentLength, 10)
	}
	values := r.Header.Values(name)
	for i, v := range values {
		values[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(values, ",")
}

// canonicalURI is the URI-encoded path; non-S3 services encode each segment
// of the already-encoded path once more.
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = awsEscape(s)
	}
	return strings.Join(segs, "/")
}

func canonicalQuery(q url.Values) string {
	var pairs [][2]string
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, [2]string{awsEscape(k), awsEscape(v)})
		}
	}
	slices.SortFunc(pairs, func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p[0] + "=" + p[1]
	}
	return strings.Join(parts, "&")
}

// awsEscape percent-encodes every byte except the RFC 3986 unreserved
// characters, as SigV4 requires.
func awsEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
		}
	}
	return b.String()
}
