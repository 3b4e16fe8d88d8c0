package desk

import (
	"context"

	"github.com/oat-toolkit/oat/ledger"
)

// EmailApproval returns the approval row of an address on an order (A8),
// or an error wrapping ErrNotFound if the address never asked. The portal
// uses it to tell a denied address from a waiting one, and not to mail the
// purchaser again while a link is still valid.
func (d *Desk) EmailApproval(ctx context.Context, order, email string) (ledger.Email, error) {
	var out ledger.Email
	err := d.db.View(ctx, func(tx *ledger.Tx) error {
		var err error
		out, err = tx.Email(ctx, order, normEmail(email))
		return err
	})
	return out, err
}
