package results

import (
	"fmt"
	"sort"
)

// ordered is a registry kept in order: what the packages above register
// with results (headline metrics, thesis figures) and the tables and plots
// read. Like SetEngines it is filled at program start: register from init
// functions, before anything reads; it is not safe for concurrent use.
type ordered[T any] struct {
	what  string                           // what an item is, for the panic
	id    func(T) (name string, order int) // an item's unique name and its place
	items []T                              // in order
}

// add inserts item in order. It panics on an item with the name or the
// order of one already there: a programming error any test of the
// registering package catches.
func (o *ordered[T]) add(item T) {
	name, order := o.id(item)
	for _, x := range o.items {
		if n, k := o.id(x); n == name || k == order {
			panic(fmt.Sprintf("results: %s %q registered with the name or order (%d) of %q", o.what, name, order, n))
		}
	}
	o.items = append(o.items, item)
	sort.SliceStable(o.items, func(i, j int) bool {
		_, a := o.id(o.items[i])
		_, b := o.id(o.items[j])
		return a < b
	})
}
