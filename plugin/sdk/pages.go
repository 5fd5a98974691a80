package sdk

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// maxPages bounds a listing, against an API whose links loop.
const maxPages = 1000

// EachPage lists a paginated collection: it GETs path through c, decodes
// each page into a P and hands it to fn, then follows next(page), which is
// the next page's path below c.Base, an absolute URL below c.Base (a
// `next` link), or "" at the end. A page counter is next returning
// "/records?page=N+1" until a page comes back short. A link outside
// c.Base is refused rather than sent the credentials, and so is a link
// seen before.
func EachPage[P any](ctx context.Context, c *JSONAPI, path string, next func(P) string, fn func(P) error) error {
	base := strings.TrimSuffix(c.Base, "/")
	seen := map[string]bool{}
	for range maxPages {
		if seen[path] {
			return fmt.Errorf("listing: the API links back to %s", path)
		}
		seen[path] = true
		var page P
		if err := c.Do(ctx, http.MethodGet, path, nil, &page); err != nil {
			return err
		}
		if err := fn(page); err != nil {
			return err
		}
		n := next(page)
		switch {
		case n == "":
			return nil
		case strings.HasPrefix(n, base+"/") || strings.HasPrefix(n, base+"?"):
			n = strings.TrimPrefix(n, base)
		case strings.Contains(n, "://"):
			return fmt.Errorf("listing: the API's next link %q leaves %s", n, base)
		}
		path = n
	}
	return fmt.Errorf("listing: more than %d pages", maxPages)
}
