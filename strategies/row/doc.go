// Package row is the redirect-on-write engine (placeholder doc, expanded below).
package row
