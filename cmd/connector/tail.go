package main

import (
	"context"
	"errors"
	"io"
)

func tailCmd(_ context.Context, _ []string, _, _ io.Writer) error {
	return errors.New("tail: not implemented yet")
}
