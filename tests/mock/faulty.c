/*
 * A fault-injecting lower module for tests: it forwards every call to the
 * real module named by $KL_FAULTY_BACKEND (SoftHSM2) and, before the calls
 * that matter, reads the file named by $KL_FAULTY_CONTROL:
 *   restart      finalise and initialise the real module once, as a backend
 *                that restarted: every session and login is gone
 *   down N       the next N calls of C_GetSlotList/C_OpenSession/C_Login say
 *                the token is not there (CKR_TOKEN_NOT_PRESENT / no slots)
 * one command per line; the file is emptied once read.  Never installed.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST real_copy, shim;
static CK_FUNCTION_LIST_PTR real;
static CK_C_INITIALIZE_ARGS saved_args;
static int have_args;
static int down;

/* Take a command from the control file, if there is one. */
static void
poll_control(void)
{
	const char *path = getenv("KL_FAULTY_CONTROL");
	char buf[64] = "", *line, *save = NULL;
	ssize_t n;
	int fd, count;

	if (path == NULL || (fd = open(path, O_RDWR)) < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = '\0';
		if (ftruncate(fd, 0) != 0)
			n = 0;
	}
	close(fd);
	if (n <= 0)
		return;
	for (line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (strcmp(line, "restart") == 0) {
			(void)real->C_Finalize(NULL);
			(void)real->C_Initialize(have_args ? &saved_args : NULL);
		} else if (sscanf(line, "down %d", &count) == 1) {
			down = count;
		}
	}
}

static CK_RV
shim_Initialize(CK_VOID_PTR args)
{
	if (args != NULL) {
		saved_args = *(CK_C_INITIALIZE_ARGS *)args;
		have_args = 1;
	}
	return real->C_Initialize(args);
}

static CK_RV
shim_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
	poll_control();
	if (down > 0) {
		down--;
		if (count != NULL)
			*count = 0;
		return CKR_OK;
	}
	return real->C_GetSlotList(present, list, count);
}

static CK_RV
shim_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
		 CK_SESSION_HANDLE_PTR out)
{
	poll_control();
	if (down > 0) {
		down--;
		return CKR_TOKEN_NOT_PRESENT;
	}
	return real->C_OpenSession(slot, flags, app, notify, out);
}

static CK_RV
shim_Login(CK_SESSION_HANDLE s, CK_USER_TYPE u, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	poll_control();
	if (down > 0) {
		down--;
		return CKR_TOKEN_NOT_PRESENT;
	}
	return real->C_Login(s, u, pin, len);
}

/* The key operations poll too, so a restart can land between two of them. */
static CK_RV
shim_WrapKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE w, CK_OBJECT_HANDLE k,
	     CK_BYTE_PTR out, CK_ULONG_PTR len)
{
	poll_control();
	return real->C_WrapKey(s, m, w, k, out, len);
}

static CK_RV
shim_UnwrapKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE u, CK_BYTE_PTR in,
	       CK_ULONG len, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR out)
{
	poll_control();
	return real->C_UnwrapKey(s, m, u, in, len, t, n, out);
}

static CK_RV
shim_CreateObject(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR out)
{
	poll_control();
	return real->C_CreateObject(s, t, n, out);
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list);

CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	CK_C_GetFunctionList getfl;
	const char *path = getenv("KL_FAULTY_BACKEND");
	void *dl;

	if (list == NULL)
		return CKR_ARGUMENTS_BAD;
	if (real == NULL) {
		if (path == NULL || (dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL ||
		    (getfl = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList")) == NULL ||
		    getfl(&real) != CKR_OK)
			return CKR_GENERAL_ERROR;
		real_copy = *real;
		shim = real_copy;
		shim.C_Initialize = shim_Initialize;
		shim.C_GetSlotList = shim_GetSlotList;
		shim.C_OpenSession = shim_OpenSession;
		shim.C_Login = shim_Login;
		shim.C_WrapKey = shim_WrapKey;
		shim.C_UnwrapKey = shim_UnwrapKey;
		shim.C_CreateObject = shim_CreateObject;
	}
	*list = &shim;
	return CKR_OK;
}
