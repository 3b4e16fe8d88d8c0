/* check_test calls oat_check the way a product does and asserts on the
 * answer. Usage:
 *
 *   check_test SETTINGS_DIR PRODUCT VENDOR.pub SYSROOT|- WANT_STATUS WANT_STATE|*
 *   check_test --null      (NULL arguments: status 2, a reason, no crash)
 *
 * SYSROOT "-" passes NULL: the running system's machine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "liboat.h"

static char *read_file(const char *path) {
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(3);
	}
	static char buf[65536];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	return buf;
}

int main(int argc, char **argv) {
	char *verdict = NULL;
	if (argc == 2 && strcmp(argv[1], "--null") == 0) {
		int status = oat_check(NULL, NULL, NULL, NULL, &verdict);
		printf("status %d: %s\n", status, verdict);
		int ok = status == 2 && verdict && strstr(verdict, "must not be NULL");
		oat_free(verdict);
		/* A caller that does not want the verdict passes NULL for it. */
		ok = ok && oat_check(NULL, NULL, NULL, NULL, NULL) == 2;
		return ok ? 0 : 1;
	}
	if (argc != 7) {
		fprintf(stderr, "usage: check_test SETTINGS_DIR PRODUCT VENDOR.pub SYSROOT|- WANT_STATUS WANT_STATE|*\n");
		return 3;
	}
	char *pem = read_file(argv[3]);
	char *sysroot = strcmp(argv[4], "-") == 0 ? NULL : argv[4];
	int want = atoi(argv[5]);

	int status = oat_check(argv[1], argv[2], pem, sysroot, &verdict);
	printf("status %d: %s\n", status, verdict);

	int ok = 1;
	if (status != want) {
		fprintf(stderr, "FAIL: status %d, want %d\n", status, want);
		ok = 0;
	}
	const char *licensed = status == 0 ? "\"licensed\":true" : "\"licensed\":false";
	if (!verdict || !strstr(verdict, licensed)) {
		fprintf(stderr, "FAIL: verdict does not say %s\n", licensed);
		ok = 0;
	}
	char state[64];
	snprintf(state, sizeof state, "\"state\":\"%s\"", argv[6]);
	if (strcmp(argv[6], "*") != 0 && !strstr(verdict, state)) {
		fprintf(stderr, "FAIL: verdict does not say %s\n", state);
		ok = 0;
	}
	char product[128];
	snprintf(product, sizeof product, "\"product\":\"%s\"", argv[2]);
	if (!strstr(verdict, product)) {
		fprintf(stderr, "FAIL: verdict does not name %s\n", product);
		ok = 0;
	}
	oat_free(verdict);
	return ok ? 0 : 1;
}
