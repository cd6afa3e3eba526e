//go:build !race

package nap

const raceEnabled = false
