package main

import (
	"os"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// replaceShop puts the test's upstream database name where a config
// fragment says SHOP.
func replaceShop(config, shop string) string {
	return strings.ReplaceAll(config, "SHOP.", shop+".")
}
