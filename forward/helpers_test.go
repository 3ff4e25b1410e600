package forward_test

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/commands/catalogue"
)

func catalogueAll() []catalogue.Entry   { return catalogue.All() }
func nopLogger() *zap.Logger            { return zap.NewNop() }
func newRegistry() *prometheus.Registry { return prometheus.NewRegistry() }
