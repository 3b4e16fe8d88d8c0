package ledger

import (
	"context"
	"crypto/subtle"
	"database/sql"
)

// Registration is the registration mail of an activation (FAQ 2.1, 2.9):
// the address it went to, its link (hashed token, valid until
// TokenExpires), and when the address was confirmed (0: not yet).
type Registration struct {
	Activation, Order, Email, Host string
	TokenHash                      []byte
	TokenExpires, Sent, Verified   int64
}

const registrationCols = `activation_id, order_id, email, host, token_hash, token_expires, sent, verified`

func scanRegistration(s scanner) (Registration, error) {
	var r Registration
	err := s.Scan(&r.Activation, &r.Order, &r.Email, &r.Host, &r.TokenHash, &r.TokenExpires, &r.Sent, &r.Verified)
	return r, err
}

// PutRegistration inserts or replaces an activation's registration.
func (t *Tx) PutRegistration(ctx context.Context, r Registration) error {
	if t.w != nil {
		t.w.regs.add(r)
		return nil
	}
	return t.putRegistrationRows(ctx, []Registration{r})
}

// putRegistrationRows writes registrations, the last of each activation.
func (t *Tx) putRegistrationRows(ctx context.Context, rs []Registration) error {
	last := map[string]int{}
	var order []string
	for i, r := range rs {
		if _, ok := last[r.Activation]; !ok {
			order = append(order, r.Activation)
		}
		last[r.Activation] = i
	}
	rows := make([][]any, 0, len(order))
	for _, id := range order {
		r := rs[last[id]]
		rows = append(rows, []any{r.Activation, r.Order, r.Email, r.Host, r.TokenHash, r.TokenExpires, r.Sent, r.Verified})
	}
	// A row found by its token hash alone (by_hash = 1, a link mailed
	// before schema 9) stays so while its token is the same; a new token
	// names its activation and leaves the hash index.
	return t.insertRows(ctx, `INSERT INTO registrations (`+registrationCols+`)`, 8, rows,
		` ON CONFLICT (activation_id) DO UPDATE SET order_id = excluded.order_id, email = excluded.email, host = excluded.host,
			token_hash = excluded.token_hash, token_expires = excluded.token_expires, sent = excluded.sent, verified = excluded.verified,
			by_hash = CASE WHEN registrations.token_hash = excluded.token_hash THEN registrations.by_hash ELSE 0 END`)
}

// Registration returns an activation's registration.
func (t *Tx) Registration(ctx context.Context, activation string) (Registration, error) {
	r, err := scanRegistration(t.queryRow(ctx, `SELECT `+registrationCols+` FROM registrations WHERE activation_id = ?`, activation))
	return r, notFound(err, "registration of activation "+activation)
}

// RegistrationByToken returns the registration of activation whose link
// token hashes to hash. An activation of "" is a link mailed before schema
// 9, which names none: it is found by its hash among those links only.
// The hash is compared in constant time; a wrong one is ErrNotFound.
func (t *Tx) RegistrationByToken(ctx context.Context, activation string, hash []byte) (Registration, error) {
	if activation == "" {
		r, err := scanRegistration(t.queryRow(ctx, `SELECT `+registrationCols+` FROM registrations WHERE token_hash = ? AND by_hash = 1`+t.forUpdate(), hash))
		return r, notFound(err, "registration link")
	}
	r, err := scanRegistration(t.queryRow(ctx, `SELECT `+registrationCols+` FROM registrations WHERE activation_id = ?`+t.forUpdate(), activation))
	if err == nil && subtle.ConstantTimeCompare(r.TokenHash, hash) != 1 {
		return Registration{}, notFound(sql.ErrNoRows, "registration link")
	}
	return r, notFound(err, "registration link")
}
