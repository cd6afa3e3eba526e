module github.com/regstorm/regstorm/bench

go 1.26.0

require (
	github.com/emiago/sipgo v1.7.2
	github.com/regstorm/regstorm v0.0.0
	golang.org/x/sys v0.50.0
)

require (
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/gobwas/pool v0.2.1 // indirect
	github.com/gobwas/ws v1.5.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	golang.org/x/sync v0.22.0 // indirect
)

replace github.com/regstorm/regstorm => ../
