package main

import (
	"context"
	"errors"
	"io"
	"path"

	"github.com/seaweedfs/seaweedfs/weed/pb/filer_pb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// walkFiler lists every entry in the filer at addr, from "/", as a set of full paths.
func walkFiler(ctx context.Context, addr string) (map[string]struct{}, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	client := filer_pb.NewSeaweedFilerClient(conn)
	out := map[string]struct{}{}
	dirs := []string{"/"}
	for len(dirs) > 0 {
		dir := dirs[len(dirs)-1]
		dirs = dirs[:len(dirs)-1]
		start := ""
		for {
			stream, err := client.ListEntries(ctx, &filer_pb.ListEntriesRequest{Directory: dir, StartFromFileName: start, Limit: 1000})
			if err != nil {
				return nil, err
			}
			n := 0
			for {
				resp, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return nil, err
				}
				n++
				e := resp.GetEntry()
				start = e.GetName()
				p := path.Join(dir, e.GetName())
				out[p] = struct{}{}
				if e.GetIsDirectory() {
					dirs = append(dirs, p)
				}
			}
			if n < 1000 {
				break
			}
		}
	}
	return out, nil
}
