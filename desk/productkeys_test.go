package desk_test

import (
	"sync"
	"testing"
	"time"

	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/productkey"
)

// TestRuleA22_DeskGeneratesProductKeys: a per-virtual-host license of the
// replication product carries 100 guest keys; the desk hands out no more
// than the seats carry, each key verifies offline with the vendor key, and
// a product is either activated or keyed, never both.
func TestRuleA22_DeskGeneratesProductKeys(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("K1", "FN-K1", "buyer@example.com", "replica-virtual", 2, "")
		fx.order("K1", "FN-K1", "buyer@example.com", "backup-server", 1, "")
		req := desk.KeysRequest{Order: "K1", Fulfillment: "FN-K1", Product: "replica-virtual", Actor: "test"}

		// Allowed: 150 keys, then the other 50 of two host licenses.
		req.Count = 150
		first, err := fx.desk.ProductKeys(ctx, fx.vendor, req)
		if err != nil {
			t.Fatal(err)
		}
		req.Count = 0
		rest, err := fx.desk.ProductKeys(ctx, fx.vendor, req)
		if err != nil {
			t.Fatal(err)
		}
		all := append(first, rest...)
		if len(all) != 200 {
			t.Fatalf("%d keys, want 200", len(all))
		}
		serials := map[productkey.Serial]bool{}
		for i, g := range all {
			k, err := productkey.Verify(g.Text, fx.trust)
			if err != nil {
				t.Fatalf("key %d: %v", i, err)
			}
			if err := k.Check("replica-virtual", fx.now); err != nil {
				t.Fatalf("key %d: %v", i, err)
			}
			if int(k.Seat) != i/100+1 || int(k.Guest) != i%100+1 || serials[k.Serial] {
				t.Fatalf("key %d: seat %d guest %d", i, k.Seat, k.Guest)
			}
			serials[k.Serial] = true
		}

		// Refused: a 201st key.
		before := fx.dump()
		req.Count = 1
		_, err = fx.desk.ProductKeys(ctx, fx.vendor, req)
		wantErr(t, err, desk.ErrNoSeats, "no free seats: order K1 has 0 of 200 product keys of replica-virtual left (100 per seat, 2 seats)")
		if fx.dump() != before {
			t.Error("a refusal changed the ledger")
		}

		// Refused: keys for a product that is activated.
		_, err = fx.desk.ProductKeys(ctx, fx.vendor, desk.KeysRequest{Order: "K1", Fulfillment: "FN-K1", Product: "backup-server"})
		wantErr(t, err, desk.ErrUsesKeys, "wrong method for this product: backup-server is activated, not unlocked by product keys: use oat request on the server (A22)")
		// Refused: activating a product that is keyed.
		_, err = fx.issue("r.oat", newInstallation("h").request(t, "K1", "FN-K1", "buyer@example.com", "replica-virtual"), desk.IssueOptions{})
		wantErr(t, err, desk.ErrUsesKeys, "r.oat: wrong method for this product: replica-virtual is unlocked by product keys, not by activation: ask the license desk for its keys (A22)")
		// Refused: a wrong fulfillment number.
		_, err = fx.desk.ProductKeys(ctx, fx.vendor, desk.KeysRequest{Order: "K1", Fulfillment: "FN-X", Product: "replica-virtual"})
		wantErr(t, err, desk.ErrNotEntitled, "not entitled: no order has this order ID and fulfillment number (A1)")
	})
}

// TestRuleA22_SubscriptionKeysExpire: keys of a subscription line end with it.
func TestRuleA22_SubscriptionKeysExpire(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("K2", "FN-K2", "buyer@example.com", "replica-virtual", 1, "2026-12-31")
		keys, err := fx.desk.ProductKeys(ctx, fx.vendor, desk.KeysRequest{Order: "K2", Fulfillment: "FN-K2", Product: "replica-virtual", Count: 1})
		if err != nil {
			t.Fatal(err)
		}
		k := keys[0].Key
		if err := k.Check("replica-virtual", time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC)); err != nil {
			t.Errorf("last day: %v", err)
		}
		if err := k.Check("replica-virtual", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)); err == nil {
			t.Error("key valid after the subscription")
		}
		fx.now = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
		_, err = fx.desk.ProductKeys(ctx, fx.vendor, desk.KeysRequest{Order: "K2", Fulfillment: "FN-K2", Product: "replica-virtual", Count: 1})
		wantErr(t, err, desk.ErrNotEntitled, "not entitled: the subscription for replica-virtual on order K2 ended on 2026-12-31 (B1)")
	})
}

// TestProductKeysConcurrent: desks racing for the last keys never hand out
// more than the seats carry (S3).
func TestProductKeysConcurrent(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("K3", "FN-K3", "buyer@example.com", "replica-virtual", 1, "")
		var wg sync.WaitGroup
		var mu sync.Mutex
		got := 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ks, err := fx.desk.ProductKeys(ctx, fx.vendor, desk.KeysRequest{Order: "K3", Fulfillment: "FN-K3", Product: "replica-virtual", Count: 30})
				if err == nil {
					mu.Lock()
					got += len(ks)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if got != 90 {
			t.Errorf("%d keys handed out, want 90 (three batches of 30 out of 100)", got)
		}
	})
}

// TestRuleA22_KeysShownAgain (FAQ 4.8): the keys an order line was given
// can be shown again, exactly as handed out, without giving out more.
func TestRuleA22_KeysShownAgain(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		fx.order("K1", "FN-K1", "buyer@example.com", "replica-virtual", 1, "2026-12-31")
		req := desk.KeysRequest{Order: "K1", Fulfillment: "FN-K1", Product: "replica-virtual", Count: 3, Actor: "test"}
		first, err := fx.desk.ProductKeys(ctx, fx.vendor, req)
		if err != nil {
			t.Fatal(err)
		}
		fx.now = fx.now.Add(48 * time.Hour)
		more, err := fx.desk.ProductKeys(ctx, fx.vendor, req)
		if err != nil {
			t.Fatal(err)
		}
		before := fx.dump()
		shown, err := fx.desk.ShowProductKeys(ctx, fx.vendor, "K1", "FN-K1", "replica-virtual")
		if err != nil {
			t.Fatal(err)
		}
		want := append(first, more...)
		if len(shown) != len(want) {
			t.Fatalf("%d keys shown, %d handed out", len(shown), len(want))
		}
		for i := range want {
			if shown[i].Text != want[i].Text {
				t.Errorf("key %d shown as %s, handed out as %s", i, shown[i].Text, want[i].Text)
			}
		}
		if fx.dump() != before {
			t.Error("showing keys changed the ledger")
		}
		_, err = fx.desk.ShowProductKeys(ctx, fx.vendor, "K1", "FN-WRONG", "replica-virtual")
		wantErr(t, err, desk.ErrNotEntitled, "")
	})
}
