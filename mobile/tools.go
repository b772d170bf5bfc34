//go:build tools

// This file keeps golang.org/x/mobile in go.mod, so that `go mod tidy`
// does not drop it: gobind and gomobile need golang.org/x/mobile/bind in
// the module of the package they bind, and bind_test.go builds gobind from
// it. The build tag keeps it out of every build.
package mobile

import _ "golang.org/x/mobile/bind"
