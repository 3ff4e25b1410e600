package catalogue_test

import (
	"testing"

	"github.com/imcallback/imcallback/internal/leakwait"
)

func TestMain(m *testing.M) { leakwait.VerifyTestMain(m) }
