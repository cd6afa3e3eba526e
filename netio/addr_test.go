package netio

import "testing"

func TestAddrPool(t *testing.T) {
	p, err := ParseAddrPool("127.0.0.1, 127.0.1.0/30")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.1", "127.0.1.0", "127.0.1.1", "127.0.1.2", "127.0.1.3", "127.0.0.1"}
	for i, w := range want {
		if got := p.At(uint64(i)).String(); got != w {
			t.Errorf("At(%d) = %s, want %s", i, got, w)
		}
	}
	big, _ := ParseAddrPool("127.0.0.0/16")
	if big.Len() != 65536 || big.At(65535).String() != "127.0.255.255" {
		t.Errorf("/16: %d, last %s", big.Len(), big.At(65535))
	}
	v6, _ := ParseAddrPool("::1")
	if v6.At(3).String() != "::1" {
		t.Error("v6")
	}
	for _, bad := range []string{"", "300.0.0.1", "127.0.0.0/99", "x"} {
		if _, err := ParseAddrPool(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
