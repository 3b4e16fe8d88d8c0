package desk

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"

	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/rotation"
)

// ErrVendorKey refuses a signing key the ledger does not list: a license
// signed with it would be refused by every server (issue 12, finding 5).
var ErrVendorKey = errors.New("not a vendor key of this ledger")

// The ways a vendor key comes to be listed.
const (
	keyAtInit   = "init"
	keyLearned  = "learned"
	keyRotation = "rotation"
)

// checkVendor is called first in every transaction that signs: it refuses
// a key the ledger does not list, before anything changes. A ledger that
// lists no key yet learns this one, recorded in the audit log in the same
// transaction as the signing it comes with.
func checkVendor(ctx context.Context, tx *ledger.Tx, pub ed25519.PublicKey, now int64, actor string) error {
	known, err := tx.VendorKeys(ctx)
	if err != nil {
		return err
	}
	id := keys.KeyID(pub).String()
	if len(known) == 0 {
		if err := tx.InsertVendorKey(ctx, ledger.VendorKey{ID: id, Public: pub, Added: now, How: keyLearned}); err != nil {
			return fmt.Errorf("record the vendor key %s: %w", id, err)
		}
		return audit(ctx, tx, now, actorOr(actor), "vendor.key.learned", "", "", map[string]any{"key": id})
	}
	var listed []string
	for _, k := range known {
		if k.Removed != 0 {
			if k.ID == id {
				return fmt.Errorf("%w: key %s was removed by a rotation statement", ErrVendorKey, id)
			}
			continue
		}
		if k.ID == id {
			return nil
		}
		listed = append(listed, k.ID)
	}
	return fmt.Errorf("%w: key %s is not one the ledger lists (%s); sign with one of those, or record a rotation statement with oat desk rotate", ErrVendorKey, id, strings.Join(listed, ", "))
}

func actorOr(a string) string {
	if a == "" {
		return "desk"
	}
	return a
}

// CheckVendorKey says, without changing anything, whether the desk would
// sign with pub: the ledger lists it, or lists no key yet (and will learn
// it). The portal calls it before it serves.
func (d *Desk) CheckVendorKey(ctx context.Context, pub ed25519.PublicKey) error {
	return d.db.View(ctx, func(tx *ledger.Tx) error {
		known, err := tx.VendorKeys(ctx)
		if err != nil || len(known) == 0 {
			return err
		}
		id := keys.KeyID(pub).String()
		var listed []string
		for _, k := range known {
			if k.Removed == 0 {
				if k.ID == id {
					return nil
				}
				listed = append(listed, k.ID)
			}
		}
		return fmt.Errorf("%w: key %s is not one the ledger lists (%s)", ErrVendorKey, id, strings.Join(listed, ", "))
	})
}

// SetVendorKeys names the vendor keys of a ledger that lists none yet
// (oat desk init --vendor). Naming the keys it lists already is a no-op;
// any other change needs a rotation statement (Rotate).
func (d *Desk) SetVendorKeys(ctx context.Context, pubs []ed25519.PublicKey, actor string) error {
	return d.db.Update(ctx, func(tx *ledger.Tx) error {
		known, err := tx.VendorKeys(ctx)
		if err != nil {
			return err
		}
		now := d.now().Unix()
		if len(known) > 0 {
			for _, p := range pubs {
				found := false
				for _, k := range known {
					found = found || (k.ID == keys.KeyID(p).String() && k.Removed == 0)
				}
				if !found {
					return fmt.Errorf("%w: the ledger lists its vendor keys already, and %s is not one; record a rotation statement with oat desk rotate", ErrVendorKey, keys.KeyID(p))
				}
			}
			return nil
		}
		var ids []string
		for _, p := range pubs {
			id := keys.KeyID(p).String()
			if err := tx.InsertVendorKey(ctx, ledger.VendorKey{ID: id, Public: p, Added: now, How: keyAtInit}); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return audit(ctx, tx, now, actorOr(actor), "vendor.key.init", "", "", map[string]any{"keys": ids})
	})
}

// VendorKeys lists the ledger's vendor keys, removed ones included.
func (d *Desk) VendorKeys(ctx context.Context) ([]ledger.VendorKey, error) {
	var out []ledger.VendorKey
	err := d.db.View(ctx, func(tx *ledger.Tx) error {
		var err error
		out, err = tx.VendorKeys(ctx)
		return err
	})
	return out, err
}

// Rotate records a vendor key rotation statement (package rotation) in the
// ledger: it must be signed by a key the ledger lists, and follows the same
// rules as on a server (a removed key never comes back, the last key is
// never removed).
func (d *Desk) Rotate(ctx context.Context, data []byte, actor string) (*rotation.Statement, error) {
	st, m, err := rotation.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadFile, err)
	}
	err = d.db.Update(ctx, func(tx *ledger.Tx) error {
		known, err := tx.VendorKeys(ctx)
		if err != nil {
			return err
		}
		listed := keys.NewTrustSet()
		removed := map[string]bool{}
		for _, k := range known {
			if k.Removed != 0 {
				removed[k.ID] = true
				continue
			}
			listed.Add(ed25519.PublicKey(k.Public))
		}
		if err := m.VerifyTrusted(listed); err != nil {
			return fmt.Errorf("%w: the statement is signed by vendor key %s, which the ledger does not list: %w", ErrVendorKey, m.KeyID, err)
		}
		now := d.now().Unix()
		detail := map[string]any{"statement": fmt.Sprintf("%x", st.ID), "signer": m.KeyID.String()}
		if st.Add != nil {
			id := keys.KeyID(st.Add).String()
			switch {
			case removed[id]:
				return fmt.Errorf("%w: key %s: %w", ErrConflict, id, rotation.ErrRetired)
			case hasKey(listed, id):
				return fmt.Errorf("%w: key %s: %w", ErrConflict, id, rotation.ErrAlreadyTrusted)
			}
			if err := tx.InsertVendorKey(ctx, ledger.VendorKey{ID: id, Public: st.Add, Added: now, How: keyRotation}); err != nil {
				return err
			}
			detail["added"] = id
			return audit(ctx, tx, now, actorOr(actor), "vendor.key.added", "", "", detail)
		}
		id := keys.ID(st.Remove).String()
		if !hasKey(listed, id) {
			return fmt.Errorf("%w: key %s: %w", ErrConflict, id, rotation.ErrNotTrusted)
		}
		if len(listed.IDs()) == 1 {
			return fmt.Errorf("%w: %w", ErrConflict, rotation.ErrLastKey)
		}
		if err := tx.RemoveVendorKey(ctx, id, now); err != nil {
			return err
		}
		detail["removed"] = id
		return audit(ctx, tx, now, actorOr(actor), "vendor.key.removed", "", "", detail)
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

func hasKey(t *keys.TrustSet, id string) bool {
	for _, k := range t.IDs() {
		if k.String() == id {
			return true
		}
	}
	return false
}
