package offsetstore_test

import (
	"errors"
	"fmt"

	"github.com/offsetkit/offsetkit/offsetstore"
)

func ExampleError() {
	var err error = &offsetstore.Error{Op: "DeleteGroup", Group: "billing", Err: offsetstore.ErrGroupNotFound}
	fmt.Println(errors.Is(err, offsetstore.ErrGroupNotFound))
	fmt.Println(err)
	// Output:
	// true
	// offsetstore: DeleteGroup group "billing": group not found
}

func ExampleSortedPartitions() {
	m := map[offsetstore.TopicPartition]offsetstore.Offset{
		{Topic: "orders", Partition: 1}: {Offset: 7},
		{Topic: "clicks", Partition: 0}: {Offset: 3},
		{Topic: "orders", Partition: 0}: {Offset: 5},
	}
	for _, tp := range offsetstore.SortedPartitions(m) {
		fmt.Println(tp, m[tp].Offset)
	}
	// Output:
	// clicks/0 3
	// orders/0 5
	// orders/1 7
}
