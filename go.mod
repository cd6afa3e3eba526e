module github.com/regstorm/regstorm

go 1.26
