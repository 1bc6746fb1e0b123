package source

import (
	"errors"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

func asAPIError(err error, target **xdr.APIError) bool { return errors.As(err, target) }

func fastBackoff() backoff.BackOff { return backoff.NewConstantBackOff(time.Millisecond) }
