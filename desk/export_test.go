package desk

import (
	"context"
	"crypto/ed25519"

	"github.com/oat-toolkit/oat/request"
)

// SetBeforeCommit makes the issue transaction run f after allocating, as a
// crash between allocation and commit would.
func (d *Desk) SetBeforeCommit(f func() error) { d.beforeCommit = f }

// IssueEachForTest answers requests in one group transaction, as an
// Issuer does with the requests that arrive together, and returns each
// request's outcome (licenses unsigned).
func (d *Desk) IssueEachForTest(ctx context.Context, vendor ed25519.PrivateKey, in []Input, opt IssueOptions) ([]Issued, []error) {
	reqs := make([]parsedRequest, len(in))
	for i, f := range in {
		r, pub, err := request.Parse(f.Data)
		if err != nil {
			panic(err)
		}
		reqs[i] = parsedRequest{f.Name, r, pub}
	}
	if opt.Method == "" {
		opt.Method = Offline
	}
	return d.issueEach(ctx, signerOf(vendor), reqs, opt)
}
