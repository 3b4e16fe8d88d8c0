package desk

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/productkey"
)

// Product keys (A22): some products are unlocked by a signed key the admin
// types in, not by activation. A model says so with Keys, the number of
// keys one seat carries (100 guest keys for a per-virtual-host license of
// the replication product, 1 for a product keyed per machine).
//
// Every key handed out is recorded, before it is returned, as an entry of
// the append-only audit log naming its serial, seat and guest number; the
// count of keys an order line has had is read back from those entries
// under the order's lock, so that the desk never hands out more keys than
// the seats carry, whatever the concurrency (S3). A key cannot be taken
// back: it is bound to no machine, which is why the models that count
// machines use activation instead.

// actionProductKey is the audit action recording one batch of keys.
const actionProductKey = "productkey.generate"

// keyRecord is the audit detail of one batch of product keys.
type keyRecord struct {
	Product string   `json:"product"`
	First   int64    `json:"first"` // index of the first key on the line, from 0
	Serials []string `json:"serials"`
}

// ErrUsesKeys refuses activation for a product that uses product keys, and
// product keys for a product that uses activation.
var ErrUsesKeys = errors.New("wrong method for this product")

// KeysRequest asks for product keys of one order line.
type KeysRequest struct {
	Order, Fulfillment, Product string
	// Count is how many keys; 0 means all the line has left.
	Count int
	Actor string
}

// GeneratedKey is one product key handed out.
type GeneratedKey struct {
	Text string
	Key  productkey.Key
}

// ProductKeys generates product keys for an order line whose model uses
// keys, records them and returns them signed with vendor.
func (d *Desk) ProductKeys(ctx context.Context, vendor ed25519.PrivateKey, r KeysRequest) ([]GeneratedKey, error) {
	if len(vendor) != ed25519.PrivateKeySize {
		return nil, errors.New("desk: no vendor key")
	}
	if r.Count < 0 || r.Count > 10_000 {
		return nil, fmt.Errorf("%w: count %d is not 0..10000", ErrInvalidInput, r.Count)
	}
	var out []GeneratedKey
	err := d.db.Update(ctx, func(tx *ledger.Tx) error {
		out = out[:0]
		now := d.now()
		orders, err := tx.LockOrders(ctx, r.Order)
		if err != nil {
			return err
		}
		o, ok := orders[r.Order]
		if !ok {
			return wrongOrder()
		}
		if !checkFulfillment(o, r.Fulfillment) {
			return wrongOrder()
		}
		_, m, err := product(ctx, tx, r.Product)
		if err != nil {
			return err
		}
		if m.Keys == 0 {
			return fmt.Errorf("%w: %s is activated, not unlocked by product keys: use oat request on the server (A22)", ErrUsesKeys, r.Product)
		}
		st, err := lineState(ctx, tx, o.ID, r.Product, m)
		if err != nil {
			return err
		}
		if st.line.Expires != 0 && st.line.Expires <= now.Unix() {
			return fmt.Errorf("%w: the subscription for %s on order %s ended on %s (B1)", ErrNotEntitled, r.Product, o.ID, day(st.line.Expires))
		}
		had, err := keysHandedOut(ctx, tx, o.ID, r.Product)
		if err != nil {
			return err
		}
		capacity := st.line.Seats * int64(m.Keys)
		left := capacity - had
		n := int64(r.Count)
		if n == 0 {
			n = left
		}
		if left <= 0 || n > left {
			return fmt.Errorf("%w: order %s has %d of %d product keys of %s left (%d per seat, %d seats)",
				ErrNoSeats, o.ID, max(left, 0), capacity, r.Product, m.Keys, st.line.Seats)
		}
		rec := keyRecord{Product: r.Product, First: had}
		for i := had; i < had+n; i++ {
			k := productkey.Key{
				Product: r.Product,
				Serial:  productkey.NewSerial(),
				Issued:  now,
				Seat:    uint16(i/int64(m.Keys) + 1),
			}
			if m.Keys > 1 {
				k.Guest = uint16(i%int64(m.Keys) + 1)
			}
			if st.line.Expires != 0 {
				k.Expires = time.Unix(st.line.Expires, 0)
			}
			text, err := productkey.Generate(vendor, k)
			if err != nil {
				return fmt.Errorf("product key %d of %s: %w", i+1, r.Product, err)
			}
			// Generate truncated the dates; keep what the key says.
			tok, err := productkey.Parse(text)
			if err != nil {
				return err
			}
			out = append(out, GeneratedKey{Text: text, Key: tok.Key})
			rec.Serials = append(rec.Serials, k.Serial.String())
		}
		return audit(ctx, tx, now.Unix(), r.Actor, actionProductKey, o.ID, "", rec)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// usesKeys refuses to activate a product that is unlocked by keys.
func usesKeys(code string) error {
	return fmt.Errorf("%w: %s is unlocked by product keys, not by activation: ask the license desk for its keys (A22)", ErrUsesKeys, code)
}

// keysHandedOut counts the product keys of a line recorded in the audit log.
func keysHandedOut(ctx context.Context, tx *ledger.Tx, order, code string) (int64, error) {
	log, err := tx.AuditLog(ctx, order, "")
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range log {
		if e.Action != actionProductKey {
			continue
		}
		var rec keyRecord
		if err := json.Unmarshal([]byte(e.Detail), &rec); err != nil {
			return 0, fmt.Errorf("audit entry %d: %w", e.ID, err)
		}
		if rec.Product == code {
			n += int64(len(rec.Serials))
		}
	}
	return n, nil
}

// ShowProductKeys returns again the product keys an order line was given
// (FAQ 4.8: keys can be looked up at any time, for a machine that
// changes). The ledger keeps each key's serial, its place on the line and
// its issue time; the key text is signed anew from them, and an Ed25519
// signature over the same key is the same signature, so each key comes
// back exactly as it was handed out. Showing keys gives out none.
func (d *Desk) ShowProductKeys(ctx context.Context, vendor ed25519.PrivateKey, order, fulfillment, code string) ([]GeneratedKey, error) {
	if len(vendor) != ed25519.PrivateKeySize {
		return nil, errors.New("desk: no vendor key")
	}
	var out []GeneratedKey
	err := d.db.View(ctx, func(tx *ledger.Tx) error {
		o, err := tx.Order(ctx, order)
		if err != nil {
			if isNotFound(err) {
				return fmt.Errorf("%w: order %s is not known to the desk (A1)", ErrNotEntitled, order)
			}
			return err
		}
		if !checkFulfillment(o, fulfillment) {
			return fmt.Errorf("%w: the fulfillment number does not match order %s (A1)", ErrNotEntitled, order)
		}
		_, m, err := product(ctx, tx, code)
		if err != nil {
			return err
		}
		if m.Keys == 0 {
			return fmt.Errorf("%w: %s is activated, not unlocked by product keys (A22)", ErrUsesKeys, code)
		}
		lines, err := tx.Lines(ctx, order)
		if err != nil {
			return err
		}
		var line *ledger.Line
		for i := range lines {
			if lines[i].Product == code {
				line = &lines[i]
			}
		}
		if line == nil {
			return fmt.Errorf("%w: %s is not on order %s", ErrNotEntitled, code, order)
		}
		log, err := tx.AuditLog(ctx, order, "")
		if err != nil {
			return err
		}
		for _, e := range log {
			if e.Action != actionProductKey {
				continue
			}
			var rec keyRecord
			if err := json.Unmarshal([]byte(e.Detail), &rec); err != nil {
				return fmt.Errorf("audit entry %d: %w", e.ID, err)
			}
			if rec.Product != code {
				continue
			}
			for j, s := range rec.Serials {
				i := rec.First + int64(j)
				k := productkey.Key{Product: code, Issued: time.Unix(e.At, 0), Seat: uint16(i/int64(m.Keys) + 1)}
				if _, err := hex.Decode(k.Serial[:], []byte(s)); err != nil || len(s) != 2*len(k.Serial) {
					return fmt.Errorf("audit entry %d: serial %q", e.ID, s)
				}
				if m.Keys > 1 {
					k.Guest = uint16(i%int64(m.Keys) + 1)
				}
				if line.Expires != 0 {
					k.Expires = time.Unix(line.Expires, 0)
				}
				text, err := productkey.Generate(vendor, k)
				if err != nil {
					return fmt.Errorf("product key %s: %w", s, err)
				}
				tok, err := productkey.Parse(text)
				if err != nil {
					return err
				}
				out = append(out, GeneratedKey{Text: text, Key: tok.Key})
			}
		}
		return nil
	})
	return out, err
}
