package main

import (
	"context"
	"errors"
	"io"
)

func benchCmd(_ context.Context, _ []string, _, _ io.Writer) error {
	return errors.New("bench: not implemented yet")
}
