package main

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Samples is one figure's measurements, in the order they were taken.
type Samples struct {
	Name   string
	Unit   string // "ms", "MiB", "count", "/s"
	Values []float64
}

func (s *Samples) Add(v float64) { s.Values = append(s.Values, v) }

// AddDur adds a duration in milliseconds.
func (s *Samples) AddDur(d time.Duration) { s.Add(float64(d.Microseconds()) / 1000) }

func (s *Samples) N() int { return len(s.Values) }

func (s *Samples) sorted() []float64 {
	v := append([]float64(nil), s.Values...)
	sort.Float64s(v)
	return v
}

// Quantile is the q-quantile (0..1) by the nearest-rank method: a value
// that was measured, never an interpolation. NaN for no samples.
func (s *Samples) Quantile(q float64) float64 {
	v := s.sorted()
	if len(v) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(q * float64(len(v))))
	rank = min(max(rank, 1), len(v))
	return v[rank-1]
}

func (s *Samples) Median() float64 { return s.Quantile(0.5) }
func (s *Samples) P95() float64    { return s.Quantile(0.95) }
func (s *Samples) P99() float64    { return s.Quantile(0.99) }
func (s *Samples) Max() float64    { return s.Quantile(1) }
func (s *Samples) Min() float64    { return s.Quantile(0) }

func (s *Samples) Sum() float64 {
	t := 0.0
	for _, v := range s.Values {
		t += v
	}
	return t
}

// num formats a figure with a precision that suits its size.
func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case v == math.Trunc(v) && math.Abs(v) < 1e9:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// withUnit is num plus the unit, "12.3 ms".
func withUnit(v float64, unit string) string {
	if unit == "" || math.IsNaN(v) {
		return num(v)
	}
	return num(v) + " " + unit
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
