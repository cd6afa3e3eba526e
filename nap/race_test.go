//go:build race

package nap

const raceEnabled = true
