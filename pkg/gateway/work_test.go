package gateway

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDrainWaitsForWorkAndRefusesNewWork(t *testing.T) {
	var tr Tracker
	done1, ok := tr.Begin()
	require.True(t, ok)
	done2, ok := tr.Begin()
	require.True(t, ok)
	require.Equal(t, 2, tr.Count())

	left := make(chan int)
	go func() { left <- tr.Drain(context.Background()) }()
	require.Eventually(t, tr.Draining, 5e9, 1e6)
	_, ok = tr.Begin()
	require.False(t, ok, "no new work once the drain has begun")

	done1()
	done1() // a second call is harmless
	require.Equal(t, 1, tr.Count())
	done2()
	require.Equal(t, 0, <-left)
}

func TestDrainGivesUpWhenItsContextEnds(t *testing.T) {
	var tr Tracker
	_, ok := tr.Begin()
	require.True(t, ok)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.Equal(t, 1, tr.Drain(ctx))
}

func TestDrainOfAnIdleGatewayIsImmediate(t *testing.T) {
	var tr Tracker
	require.Equal(t, 0, tr.Drain(context.Background()))
	_, ok := tr.Begin()
	require.False(t, ok)
}
