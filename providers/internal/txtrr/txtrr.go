// Package txtrr holds what the providers that speak DNS themselves
// (rfc2136, standalone) share about TXT record data.
package txtrr

import "strings"

// Strings splits a value into TXT character-strings of at most 255 bytes
// (RFC 1035 §3.3.14) and escapes backslashes, which miekg/dns would
// otherwise read as presentation-format escapes.
func Strings(value string) []string {
	var out []string
	for len(value) > 255 {
		out = append(out, value[:255])
		value = value[255:]
	}
	out = append(out, value)
	for i, s := range out {
		out[i] = strings.ReplaceAll(s, `\`, `\\`)
	}
	return out
}
