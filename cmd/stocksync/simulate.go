package main

import (
	"context"
	"errors"
	"flag"
)

// simulateConfig is the configuration of 'stocksync simulate'.
type simulateConfig struct{}

func (m *Main) simulateFlags(fs *flag.FlagSet) {}

func (m *Main) runSimulate(ctx context.Context) error {
	return errors.New("simulate is not built yet")
}
