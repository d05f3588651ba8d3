package client

// SetMaxRequest lowers the longest request c sends, to test splitting.
func SetMaxRequest(c *Client, n int64) { c.maxReq = n }
