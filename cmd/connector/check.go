package main

import (
	"context"
	"errors"
	"io"
)

func checkCmd(_ context.Context, _ []string, _, _ io.Writer) error {
	return errors.New("check: not implemented yet")
}
