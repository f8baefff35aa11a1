package codec_test

import (
	"fmt"

	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/ember-go/ember/internal/codec"
)

type Sale struct {
	Region string
	Amount float64
	Tags   []string
	Note   *string // nullable
}

func ExampleFor() {
	c, err := codec.For[Sale]()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Schema())

	note := "late"
	rec := c.Encode(memory.DefaultAllocator, []Sale{
		{Region: "north", Amount: 12.5, Tags: []string{"new", "web"}},
		{Region: "south", Amount: 3, Note: &note},
	})
	defer rec.Release()

	sales, err := c.Decode(rec, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range sales {
		fmt.Printf("%s %.2f %q", s.Region, s.Amount, s.Tags)
		if s.Note != nil {
			fmt.Printf(" note=%s", *s.Note)
		}
		fmt.Println()
	}
	// Output:
	// schema:
	//   fields: 4
	//     - Region: type=utf8
	//     - Amount: type=float64
	//     - Tags: type=list<item: utf8>
	//     - Note: type=utf8, nullable
	// north 12.50 ["new" "web"]
	// south 3.00 [] note=late
}
