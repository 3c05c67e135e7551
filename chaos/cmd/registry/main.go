// Command registry is the CNCF distribution registry (its own command
// line: `registry serve config.yml`) with the filesystem and in-memory
// storage drivers only, for the chaos test: distribution's cmd/registry
// also links the cloud storage drivers, which layerq has no use for.
package main

import (
	"github.com/distribution/distribution/v3/registry"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
)

func main() {
	// serve and garbage-collect, as distribution's own registry command.
	registry.RootCmd.Execute()
}
