// Package sample holds the Go functions of the sample flows in config.toml,
// registered on a registry by the binflow binary. They show how a user's own
// binary registers typed Go functions.
package sample

import (
	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/functions"
)

// Order is the part of an upstream shop.orders row big_orders reads.
type Order struct {
	ID         int64           `binflow:"id"`
	CustomerID int64           `binflow:"customer_id"`
	Amount     decimal.Decimal `binflow:"amount"`
	Status     string          `binflow:"status"`
}

// BigOrder is a row of the derived table big_orders.
type BigOrder struct {
	ID         int64           `binflow:"id"`
	CustomerID int64           `binflow:"customer_id"`
	Amount     decimal.Decimal `binflow:"amount"`
	AmountBand string          `binflow:"amount_band"`
}

var (
	bigThreshold  = decimal.NewFromInt(100)
	hugeThreshold = decimal.NewFromInt(500)
)

// BigOrdersSQL computes big_orders on the upstream; tests compare with it.
const BigOrdersSQL = `SELECT id, customer_id, amount, CASE WHEN amount >= 500 THEN '500+' ELSE '100-499' END
FROM shop.orders WHERE amount >= 100 AND status <> 'cancelled'`

func isBig(o *Order) bool {
	return o != nil && o.Amount.GreaterThanOrEqual(bigThreshold) && o.Status != "cancelled"
}

// BigOrders keeps the orders of 100 or more that are not cancelled, with a
// band label.
func BigOrders(ev functions.Event[Order], out *functions.Emitter[BigOrder]) error {
	if isBig(ev.After) {
		band := "100-499"
		if ev.After.Amount.GreaterThanOrEqual(hugeThreshold) {
			band = "500+"
		}
		if isBig(ev.Before) && ev.Before.ID != ev.After.ID {
			if err := out.Delete(&BigOrder{ID: ev.Before.ID}); err != nil {
				return err
			}
		}
		return out.Upsert(&BigOrder{ID: ev.After.ID, CustomerID: ev.After.CustomerID, Amount: ev.After.Amount, AmountBand: band})
	}
	if isBig(ev.Before) {
		return out.Delete(&BigOrder{ID: ev.Before.ID})
	}
	return nil
}

// Register adds the sample functions to reg.
func Register(reg *functions.Registry) error {
	return reg.Register("big_orders", functions.Typed(BigOrders))
}
