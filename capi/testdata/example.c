/* example.c: the license check of doc/product.md, as a product calls it. */
#include <stdio.h>
#include "liboat.h"

/* The vendor key the product pins, compiled in. */
extern const char vendor_pem[];

int main(int argc, char **argv) {
	const char *settings_dir = argc > 1 ? argv[1] : "/etc/backup";
	const char *sysroot = argc > 2 ? argv[2] : NULL; /* NULL: this machine; tests pass a tree */
	char *verdict = NULL;
	int status = oat_check((char *)settings_dir, "backup-server", (char *)vendor_pem, (char *)sysroot, &verdict);
	switch (status) {
	case 0:
		printf("licensed: %s\n", verdict);
		break;
	case 1:
		printf("not licensed: %s\n", verdict);
		break;
	default:
		fprintf(stderr, "oat_check: %s\n", verdict);
	}
	oat_free(verdict);
	return status;
}
