// Command capi is oat's license check for products written in C, C++, .NET
// or anything else that calls a C function: built with
//
//	go build -buildmode=c-shared -o liboat.so ./capi   (or liboat.dll, liboat.dylib)
//	go build -buildmode=c-archive -o liboat.a ./capi
//
// it is a library with a header (liboat.h) exporting
//
//	int  oat_check(const char *settings_dir, const char *product,
//	               const char *vendor_pem, const char *sysroot, char **verdict);
//	void oat_free(char *verdict);
//
// oat_check runs package check: the license copy in settings_dir, for the
// product code, verified with the vendor public key(s) in vendor_pem (PEM
// text, compiled into the product). sysroot is NULL for the running
// system; tests pass a directory to read the machine and the trial marker
// under, as OAT_SYSROOT does for the oat command. It returns 0 when the
// product is licensed, 1 when it is not, 2 when the arguments are wrong
// (a NULL pointer, no key in vendor_pem), and, when verdict is not NULL,
// sets *verdict to the JSON verdict of doc/product.md, which the caller
// releases with oat_free.
//
// Without cgo this package builds as an empty program, so that
// `go build ./...` and the cross-compiles keep working.
package main

func main() {}
