// Package acme is zonecert's ACME protocol layer: a client for RFC 8555
// (Automatic Certificate Management Environment) and its extensions, with no
// knowledge of DNS, plugins or storage. The order engine in package core
// drives it.
//
// # Resources
//
// Each RFC 8555 resource lives in its own file and type:
//
//   - [Directory] (§7.1.1): the entry point, fetched once per [Client], with
//     its meta object (termsOfService, website, caaIdentities,
//     externalAccountRequired, profiles) and the renewalInfo URL (RFC 9773).
//   - Nonces (§7.2): every response's Replay-Nonce is pooled; when the pool is
//     empty the client sends HEAD to newNonce. A request the server rejects
//     with badNonce (§6.5) is signed again with a fresh nonce and resent, a
//     bounded number of times. The pool is safe for many concurrent orders.
//   - Requests (§6.2): JWS in the flattened JSON serialization, signed with
//     ES256, ES384 or RS256 account keys, with the "url" and "nonce"
//     protected headers and either "jwk" (newAccount, revocation by the
//     certificate key) or "kid" (everything else). Every read is a
//     POST-as-GET (§6.3).
//   - [Account] (§7.3): create, find (onlyReturnExisting), update contacts,
//     key rollover (§7.3.5), deactivation (§7.3.6) and External Account
//     Binding (§7.3.4).
//   - [Order] (§7.4), [Authorization] (§7.5) and [Challenge] (§8): newOrder
//     with dns identifiers (wildcards included), notBefore/notAfter, profile
//     (draft-ietf-acme-profiles) and replaces (RFC 9773 §5); responding to
//     challenges; polling that honours Retry-After (§7.5.1, §7.4) and backs
//     off when it is absent; finalization with a CSR (§7.4).
//   - [Certificate] (§7.4.2): the PEM chain, alternate chains announced with
//     Link rel="alternate", and [PreferredChain] by issuer common name.
//   - DNS validation methods beyond dns-01: [DNSAccountLabel] for
//     dns-account-01 (draft-ietf-acme-dns-account-label) and
//     [PersistRecord] for dns-persist-01 (draft-ietf-acme-dns-persist),
//     whose challenge carries the CA's issuer domain names.
//   - Revocation (§7.6), signed by the account key or the certificate key.
//   - Renewal information (RFC 9773): [ARICertID] and [Client.GetRenewalInfo].
//   - Errors (§6.7, RFC 9457): one [Problem] type with subproblems (§6.7.1),
//     matched with errors.As; [HTTPError] for answers that are not problem
//     documents.
//
// # A certificate, step by step
//
// With a [Client] c (see [New]) and an account key:
//
//	acct, err := c.NewAccount(ctx, key, acme.NewAccountRequest{TermsOfServiceAgreed: true})
//	o, err := c.NewOrder(ctx, acct, acme.OrderRequest{
//		Identifiers: acme.DNSIdentifiers("*.example.com", "example.com")})
//	for _, u := range o.Authorizations {
//		a, err := c.GetAuthorization(ctx, acct, u)
//		ch, ok := a.Challenge(acme.ChallengeDNS01)
//		ka, err := acme.KeyAuthorization(acct.Key, ch.Token)
//		// publish acme.DNS01Value(ka) at _acme-challenge.<a.Identifier.Value>
//		_, err = c.AcceptChallenge(ctx, acct, ch.URL)
//	}
//	// then PollAuthorization for each, and PollOrder until "ready"
//	csr, err := acme.CreateCSR(certKey, o.Identifiers)
//	o, err = c.FinalizeOrder(ctx, acct, o, csr) // polls until "valid"
//	chains, err := c.GetCertificateChains(ctx, acct, o.Certificate)
//	cert, _ := acme.PreferredChain(chains, "Preferred Root CN")
//
// If the order fails, [Client.DeactivatePendingAuthorizations] releases what
// it still holds (§7.5.2).
//
// # Errors
//
// A CA error is a [*Problem]: test its Type against the Problem* constants
// or use [IsProblem]. A rateLimited problem (§6.6) carries the answer's
// Retry-After in [Problem.RetryAfter]; the client waits by itself only for
// reads and only within Options.MaxBackoff. Orders and authorizations that fail wrap [ErrOrderInvalid] or
// [ErrAuthorizationInvalid] together with the CA's problem. An error answer
// that is no problem document (a proxy's HTML page) is an [*HTTPError] with
// status and URL.
//
// # Accounts are arguments
//
// A [Client] holds the directory, the nonce pool and the HTTP client, never an
// account. Every authenticated call takes the [Account] (its key and its URL,
// the "kid") explicitly, so one Client serves many accounts at once.
//
// # HTTP behaviour
//
// The *http.Client is injected (for a private CA bundle, say). Requests carry
// User-Agent "zonecert/<version>". Response bodies are limited in size
// (Options.MaxResponseBytes). GET and POST-as-GET requests are retried with
// backoff on 5xx answers and on connection resets; a 5xx or 429 answer with a
// Retry-After within Options.MaxBackoff waits as told (RFC 8555 §6.6), a
// longer one is returned to the caller. State-changing POSTs are never
// retried except after badNonce, which the server guarantees did nothing
// (§6.5).
//
// Key and CSR helpers ([GenerateKey], [CreateCSR]) cover ECDSA P-256/P-384 and
// RSA 2048/3072/4096.
package acme
