package main

import (
	"fmt"
	"sync"
)

// Results is everything the phases measured, by key, for the report.
type Results struct {
	mu      sync.Mutex
	samples map[string]*Samples
	order   []string
	// Info holds single values and strings the report quotes.
	Info map[string]string
	// Notes are per-phase remarks (errors included) printed under the
	// phase's section.
	Notes map[string][]string
	// Timelines drawn as SVG.
	Timelines map[string]*Timeline
}

func newResults() *Results {
	return &Results{samples: map[string]*Samples{}, Info: map[string]string{}, Notes: map[string][]string{}, Timelines: map[string]*Timeline{}}
}

// S returns the samples under key, creating them with name and unit.
func (r *Results) S(key, name, unit string) *Samples {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.samples[key]; ok {
		return s
	}
	s := &Samples{Name: name, Unit: unit}
	r.samples[key] = s
	r.order = append(r.order, key)
	return s
}

// Get returns the samples under key, or an empty set.
func (r *Results) Get(key string) *Samples {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.samples[key]; ok {
		return s
	}
	return &Samples{Name: key}
}

func (r *Results) Note(phase, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Notes[phase] = append(r.Notes[phase], fmt.Sprintf(format, args...))
}

func (r *Results) SetInfo(key, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Info[key] = fmt.Sprintf(format, args...)
}
