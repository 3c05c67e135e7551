//go:build race

package layerscan

const raceEnabled = true
