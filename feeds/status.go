package feeds

import (
	"context"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/transitdb/transit/feeds/pgrepl"
	"github.com/transitdb/transit/ledger"
)

// Status is what feed status shows of one feed.
type Status struct {
	Feed        string    `json:"feed"`
	Target      string    `json:"target"`
	Generation  string    `json:"generation"`
	Slot        string    `json:"slot"`
	Position    string    `json:"position"` // confirmed LSN
	LagBytes    int64     `json:"lag_bytes"`
	LagSeconds  float64   `json:"lag_seconds"`
	Active      bool      `json:"active"` // a feed run streams from the slot now
	Events      int64     `json:"events"`
	Rejects     int64     `json:"rejects"`              // documents the store refused outside a backfill (transit.rejects)
	Rebuilding  string    `json:"rebuilding,omitempty"` // generation being built
	Phase       string    `json:"rebuild_phase,omitempty"`
	LastRebuild time.Time `json:"last_rebuild,omitzero"`
	RebuildMsg  string    `json:"last_rebuild_result,omitempty"`
	LastVerify  time.Time `json:"last_verify,omitzero"`
	VerifyMsg   string    `json:"last_verify_result,omitempty"`
	Warning     string    `json:"warning,omitempty"`
	Error       string    `json:"error,omitempty"`
}

// Status reports the feed's position and lag. Lag in seconds is the time
// since the commit of the last applied transaction while the slot holds
// unapplied WAL (an upper bound), 0 when it holds none.
func (f *Feed) Status(ctx context.Context, warnWAL int64) Status {
	s := Status{Feed: f.Name(), Target: f.Spec.ToStore}
	if f.Spec.ToAlias != "" {
		s.Target += "." + f.Spec.ToAlias
	}
	st, err := f.Ledger.Feed(ctx, f.Plan.Name, f.Name())
	if err != nil {
		s.Error = err.Error()
		return s
	}
	s.Generation, s.Slot, s.Events = st.CurrentGen, st.Slot, st.Events
	s.Rebuilding, s.Phase = st.RebuildGen, st.RebuildPhase
	s.LastRebuild, s.RebuildMsg, s.LastVerify, s.VerifyMsg = st.LastRebuild, st.RebuildMsg, st.LastVerify, st.VerifyMsg
	s.Position = pglogrepl.LSN(st.Confirmed).String()
	if _, n, err := f.Ledger.Rejects(ctx, ledger.NoRun, f.RejectEntity(), 0); err == nil {
		s.Rejects = n
	}
	if st.Slot == "" {
		s.Warning = "not built yet: run transit feed rebuild (or feed run)"
		return s
	}
	ss, err := pgrepl.SlotStatus(ctx, f.url, st.Slot)
	if err != nil {
		s.Error = err.Error()
		return s
	}
	s.Position, s.LagBytes, s.Active = ss.Confirmed.String(), ss.LagBytes, ss.Active
	if ss.LagBytes > 0 && !st.LastCommit.IsZero() {
		s.LagSeconds = time.Since(st.LastCommit).Seconds()
	}
	if warnWAL > 0 && ss.LagBytes > warnWAL {
		s.Warning = "the slot holds more WAL than the limit: run transit feed run, or transit feed drop"
	}
	return s
}

// Drop removes the feed's slots and publications (the current one and a
// rebuild's) and forgets it in the ledger. It returns how many bytes of
// WAL the slots held; the derived store is left as it is.
func (f *Feed) Drop(ctx context.Context) (int64, error) {
	st, err := f.Ledger.Feed(ctx, f.Plan.Name, f.Name())
	if err != nil {
		return 0, err
	}
	var held int64
	all := []pgrepl.Names{{Slot: st.Slot, Publication: st.Publication}, {Slot: st.RebuildSlot, Publication: st.RebuildPub}}
	slots, pubs, err := f.Ledger.Retired(ctx, f.Plan.Name, f.Name())
	if err != nil {
		return 0, err
	}
	for i := range slots {
		all = append(all, pgrepl.Names{Slot: slots[i], Publication: pubs[i]})
	}
	for _, n := range all {
		if n.Slot == "" {
			continue
		}
		h, err := pgrepl.Drop(ctx, f.url, n)
		held += h
		if err != nil {
			return held, err
		}
	}
	return held, f.Ledger.DropFeed(ctx, f.Plan.Name, f.Name())
}
