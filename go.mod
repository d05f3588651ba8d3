module github.com/snapbench/snapbench

go 1.26.8

require (
	github.com/HdrHistogram/hdrhistogram-go v1.4.0
	github.com/ncw/directio v1.0.5
	golang.org/x/sys v0.50.0
)
