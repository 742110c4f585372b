package rubygems

import (
	"reflect"
	"testing"
)

func TestParseFullName(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []coord
	}{
		{"rack-3.0.8", []coord{{"rack", "3.0.8", "ruby"}}},
		{"net-http-0.4.1", []coord{{"net-http", "0.4.1", "ruby"}}},
		{"nokogiri-1.15.4-x86_64-linux", []coord{{"nokogiri", "1.15.4", "x86_64-linux"}}},
		{"ffi-1.0-universal-darwin-19", []coord{{"ffi", "1.0", "universal-darwin-19"}, {"ffi-1.0-universal-darwin", "19", "ruby"}}},
		{"rails-7.1.0.rc1", []coord{{"rails", "7.1.0.rc1", "ruby"}}},
		{"nover", nil},
		{"-1.0", nil},
		{"x-1.0-ruby", nil},
		{"a-1..0", nil},
		{"../../etc-1.0", nil},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := parseFullName(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v want %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseFullName(f *testing.F) {
	for _, s := range []string{"rack-3.0.8", "nokogiri-1.15.4-x86_64-linux", "a-b-c-1-2-3", "x-1.0-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range parseFullName(s) {
			if c.FullName() != s {
				t.Fatalf("%q read as %+v, which is %q", s, c, c.FullName())
			}
			if !validName(c.Name) || !validVersion(c.Version) || !validPlatform(c.Platform) {
				t.Fatalf("%q read as invalid %+v", s, c)
			}
		}
	})
}
