module github.com/gosimscan/simscan

go 1.26.8

require (
	github.com/jhillyerd/enmime/v2 v2.3.0
	golang.org/x/sys v0.49.0
	golang.org/x/text v0.34.0
)

require (
	github.com/cention-sany/utf7 v0.0.0-20170124080048-26cad61bd60a // indirect
	github.com/pkg/errors v0.9.1 // indirect
)
